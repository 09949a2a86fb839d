"""The built-in zoo. Adding an architecture is one `register_architecture` line here.

Every architecture is trained once in float32 and appears in every registered precision;
the quantised variants are derived from the trained weights without retraining.
"""

from zoo.registry import register_architecture

for width in (32, 64, 128, 256, 512):
    register_architecture(f"mlp-h{width}", (width,),
                          description=f"One hidden ReLU layer of {width} units.")
register_architecture("mlp-h512x256", (512, 256),
                      description="Two hidden ReLU layers of 512 and 256 units.")
