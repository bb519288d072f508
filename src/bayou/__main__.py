from bayou.cli import app

app(prog_name="bayou")
