"""HVAC control, pure cores (no I/O; event time is passed in by the caller).

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
"""
