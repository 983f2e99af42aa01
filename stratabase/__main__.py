from stratabase.cli.main import run

run()
