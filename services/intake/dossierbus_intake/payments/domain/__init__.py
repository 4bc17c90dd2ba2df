"""The payment aggregate: pure, decided in memory."""
