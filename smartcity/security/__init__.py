"""Security: least-privilege IAM policies per component, and clear reports of permission denials."""
