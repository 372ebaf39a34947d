"""A sample third-party plugin distribution for intelbot's tests."""
