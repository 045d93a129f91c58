"""Market data shared by the projector and the stream: candle intervals and OHLCV aggregation."""
