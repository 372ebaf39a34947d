"""intelbot database advisor: captures statements, verifies index suggestions, reports health."""
