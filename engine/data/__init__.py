"""The engine's data: MNIST (download, checksums, IDX parsing) and the generators of drawn
digits and of drawings that are not digits, which train and test the not-a-digit detector."""
