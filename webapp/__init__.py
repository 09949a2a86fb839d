"""The web app's request path: a drawing in, the zoo's answers out.

`predictor` serves the zoo (no Gradio): loads variants once, runs a drawing through each,
times it and checks it is a digit. `canvas` turns what the page or an API client sent into
an image, `pad` and `uploads` bound what Gradio accepts before that, `api` lets a raw HTTP
call leave out the endpoint's optional inputs, and `answers` and `why` render the result as
HTML. app.py assembles them into the page.
"""
