from cvgallery.cli import main

main()
