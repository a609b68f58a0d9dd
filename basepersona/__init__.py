"""basepersona: elicit an assistant persona from base models and measure alignment faking."""

__version__ = "0.1.0"
