"""vlgen: does language help generalisation in vision models? Features, evaluations, figures."""

__version__ = "0.1.0"
