int cbaselines_placeholder;
