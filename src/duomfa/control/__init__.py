"""Lambda handlers of the AWS deployment: custom resources and the control plane.

Each module here is shipped into AWS Lambda on its own (the CDK app embeds its source), so it imports only the
standard library and boto3, never the rest of duomfa.
"""
