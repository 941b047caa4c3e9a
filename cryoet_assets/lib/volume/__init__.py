"""Volume formats and the tomogram converter."""
