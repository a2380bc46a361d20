"""Lambda handlers of the AWS deployment: custom resources and the control plane (rotation, address tracking,
directory update, image gate). Small custom-resource handlers are inline in the template (standard library and boto3
only); the rest run from the proxy's image, where they can use duomfa.radius."""
