"""HVAC control. Pure cores (no I/O; event time is passed in by the caller) and one shell.

- priority.py: an emulated BACnet-style 16-slot priority array per writable point
  (Modbus has none): leased commands per slot, effective value = highest live slot, else
  the relinquish default; named slots; snapshot/restore for restarts.
- interlocks.py: the safety checks every rule's write passes (profile bounds, the 26 degC
  cooling floor / 20 degC heating ceiling of public buildings, 0.5 K per step, one write
  per zone per 5 min, shed at most 2 h then released at least 15 min, compressor minimum
  on/off). `Interlocks.check` clamps or refuses, never exceeds.
- limiter.py: the demand limiter (ILC-style inactive -> curtail -> holding -> releasing):
  which zones get a cooling setup and how much, by priority, with a cap per step, a share
  cap, a futility check and staggered release. It decides setups; the interlocks apply.
- zone_control.py: per zone, the priority arrays of its points, their defaults, link state
  and the one interlocked write that moves a point toward its target.
- commands.py: where commands come from (limiter setups at 10, a red budget at 11, the
  API's operator overrides at 8); records.py: the outbox records control produces.
- loop.py: ControlLoop, the whole step (demand rule, limiter, commands, plan): the edge,
  `steward-edge replay` and bench/control.py run the same code.
- settings.py: the site file's demand: and control: sections; status.py: status lines.
- runtime.py (the shell): ControlLoop + outbox state and records + verified Modbus writes
  (modbus_write.py: encode, write, read back).
"""
