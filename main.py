"""The Android package's entry point: python-for-android runs ``main.py`` (buildozer.spec)."""

from driver_client.android.launch import main

if __name__ == "__main__":
    main()
