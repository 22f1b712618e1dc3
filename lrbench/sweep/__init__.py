"""Sweeps: config -> planned groups -> executed runs -> results folder -> analysis. Imports core and the config."""
