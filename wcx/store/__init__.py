"""SQL persistence: schema, migrations, the event projector and history queries."""
