from tests.sync.conftest import device, device_b, stops

__all__ = ["device", "device_b", "stops"]
