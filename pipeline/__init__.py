"""The TFX pipeline definition of resizer-tfx (wiring only) and its configuration."""
