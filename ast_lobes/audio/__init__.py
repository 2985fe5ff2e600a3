"""Audio: reading files, the Kaldi fbank front end, its statistics."""
