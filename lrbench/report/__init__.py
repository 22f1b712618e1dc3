"""Tables, figures and pages built from results (never prints, never trains). Imports sweep and finder results."""
