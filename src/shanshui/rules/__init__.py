"""Rules and alarms (DESIGN §3, layer 5): jobs that read the store, apply ``standards`` and
write alarms back (issue 6, item 3)."""
