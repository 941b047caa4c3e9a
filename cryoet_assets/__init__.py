"""Ingest cryo-ET deposits into the cryo-ET data portal's layout, validation gate and database."""
