"""Lambda handlers of the AWS deployment: custom resources and the control plane (rotation, address tracking,
directory update, image gate).

Each runs in Lambda on boto3 and the standard library; a handler that speaks RADIUS (the rotation's Status-Server
check) also needs `duomfa.radius`, which is standard-library only. Small custom-resource handlers are embedded in
the template; the others ship as an asset holding duomfa/__init__.py, duomfa/radius/ and duomfa/control/.
"""
