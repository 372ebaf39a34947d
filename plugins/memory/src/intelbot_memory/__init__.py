"""Long-term memory for intelbot."""
