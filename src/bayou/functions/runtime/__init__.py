"""Code that runs inside execution environments; it imports nothing of Bayou but the wire format."""
