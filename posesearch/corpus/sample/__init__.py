"""The sample corpus shipped with posesearch (data only; see ATTRIBUTION.md)."""
