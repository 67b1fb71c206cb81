"""One module per certificate kind; each defines `derive(cert, ctx) -> {claim name: Enclosure | Verdict}`."""
