"""Reading input tables and writing them back annotated (CSV, XLSX/XLSM, XLS)."""
