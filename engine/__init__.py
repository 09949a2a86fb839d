"""digit-zoo's math engine: a from-scratch NumPy MLP, its training, quantisation and data.

Nothing here imports the zoo, Gradio or the Hub; data flows one way, into here and out.
"""
