"""The LR range test and its suggestions. Imports core and the config."""
