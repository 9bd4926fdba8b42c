/** ferry's version, as `ferry --version` prints it and each daemon registers in the fleet. */
export const FERRY_VERSION = "0.1.0";
