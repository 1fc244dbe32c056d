"""What is shown: the report's data, its Markdown and HTML, and every plotly figure."""
