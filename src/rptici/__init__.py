"""rptici: radiopharmaceutical therapy combined with immune checkpoint inhibitors, in silico."""

__version__ = "0.1.0"
