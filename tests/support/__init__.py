"""What the tests share: lists written and read back, the command line as a subprocess, a scripted
verifier, the simulator's SDK clients, the upload server's helpers and a virtual clock."""
