"""The built-in model families. Adding one is one `register_family` line here or in a plugin.

A family is a class implementing `engine.model.Model`; the registry, the precisions, the
artifacts, training and the app know nothing else about it.
"""

from engine.cnn import CNN
from engine.mlp import MLP
from zoo.registry import register_family

register_family("mlp", MLP)
register_family("cnn", CNN)
