// Placeholder until calibration lands.
