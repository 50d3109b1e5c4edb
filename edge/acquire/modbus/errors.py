"""Why a Modbus transaction failed, in words an operator can act on."""

from __future__ import annotations

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge (busy with a long command)",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}

# Codes that say "this request can never succeed as asked": re-plan, do not retry.
ADDRESSING_CODES = frozenset({1, 2, 3})


class TransactionError(Exception):
    """Base of every failure of one request; `kind` is the counter it is reported under."""

    kind = "error"


class ModbusExceptionResponse(TransactionError):
    """The device answered with a Modbus exception code."""

    def __init__(self, code: int):
        self.code = code
        self.kind = f"exception_{code}"
        super().__init__(f"exception {code} ({EXCEPTION_NAMES.get(code, 'unknown code')})")


class NoAnswer(TransactionError):
    kind = "timeout"


class LateAnswer(NoAnswer):
    """No answer within the timeout; one came later and was discarded (RS-485 drain)."""

    kind = "late_discarded"


class LinkDown(TransactionError):
    """Could not connect, or the connection dropped mid-request."""

    kind = "connection"


class BadFrame(TransactionError):
    """An answer arrived but does not fit the request (wrong length, CRC, function)."""

    kind = "bad_frame"
