"""probgates: probabilistic gates for recurrent networks, in Pyro."""

__version__ = "0.1.0"
