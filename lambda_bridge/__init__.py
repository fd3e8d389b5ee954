"""AWS Lambda bridge: IoT button press -> protocol v1 click on the user's Mosquitto over TLS.

The handler lives in ``lambda_bridge.handler.lambda_handler``. This package file
imports nothing, so loading the handler pays only for what the click path uses.
"""
