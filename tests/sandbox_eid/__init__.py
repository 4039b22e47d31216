"""The sandbox national e-ID, checked from the outside by an independent client."""
