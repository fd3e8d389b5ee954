"""The iot-backup Mosquitto broker: config, ACL, one set-up command, a local runner."""
