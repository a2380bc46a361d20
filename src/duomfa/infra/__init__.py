"""The AWS deployment as a CDK app: one construct per concern, composed into a new-VPC and an existing-VPC stack.

aws-cdk-lib is imported only inside this package; Lambda handlers are referenced by the paths of their source files
in duomfa.control, never imported.
"""
