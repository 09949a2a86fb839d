"""digit-zoo's math engine: MLPs and CNNs written by hand in NumPy (forward, backward,
gradient-checked), their training, quantisation, calibration and explanations; its data in
engine.data.

Nothing here imports the zoo, Gradio or the Hub; data flows one way, into here and out.
"""
