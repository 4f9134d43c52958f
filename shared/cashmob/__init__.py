"""cashmob: collective micro-funding where money moves only if the group succeeds."""
