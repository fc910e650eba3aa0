"""Run by the Label Studio environment's Python (selenium lives there, not in ours): a labeler
logs in to Label Studio's web UI in headless Chromium (Debian's chromium + chromium-driver; no
browser download), opens a ranking task, drags the completions into the given order with the
keyboard (react-beautiful-dnd's space / arrow / space: what a mouse drag does, without pixel
maths), rates, ticks a flag and submits. Prints the displayed order it ended with, as JSON.

Usage: python browser_rank.py URL EMAIL PASSWORD PROJECT_ID TASK_ID LETTER,LETTER,... RATING FLAG
"""

import json
import shutil
import sys

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

url, email, password, project, task, wanted, rating, flag = sys.argv[1:9]
wanted = wanted.split(",")

options = webdriver.ChromeOptions()
options.binary_location = shutil.which("chromium")
for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1200"):
    options.add_argument(arg)
driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
wait = WebDriverWait(driver, 60, ignored_exceptions=(StaleElementReferenceException,))
ITEMS = '[data-rbd-droppable-id="rank"] [data-ranker-id]'


def displayed() -> list[str]:
    return [e.get_attribute("data-ranker-id") for e in driver.find_elements(By.CSS_SELECTOR, ITEMS)]


try:
    driver.get(f"{url}/user/login/")
    driver.find_element(By.NAME, "email").send_keys(email)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit], input[type=submit]").click()
    wait.until(lambda d: "/user/login" not in d.current_url)
    driver.get(f"{url}/projects/{project}/data?task={task}")
    # The data manager may render another task first (seen on a slow machine: the 3-completion
    # task before this 4-completion one), so wait until exactly this task's letters are shown.
    wait.until(lambda d: sorted(displayed()) == sorted(wanted))
    # Move each wanted letter into place, top first: pick it up, arrow up to its slot, drop.
    for target, letter in enumerate(wanted):
        steps = displayed().index(letter) - target
        if steps:
            handle = driver.find_element(By.CSS_SELECTOR, f'[data-rbd-drag-handle-draggable-id="{letter}"]')
            handle.send_keys(Keys.SPACE)
            for _ in range(steps):
                ActionChains(driver).pause(0.3).send_keys(Keys.ARROW_UP).perform()
            ActionChains(driver).pause(0.5).send_keys(Keys.SPACE).pause(0.5).perform()
    order = displayed()
    driver.find_elements(By.CSS_SELECTOR, "ul.ant-rate li")[int(rating) - 1].click()
    driver.find_element(By.XPATH, f"//*[normalize-space(text())={json.dumps(flag)}]").click()
    driver.find_element(By.XPATH, "//button[normalize-space(.)='Submit']").click()
    # Submitted: the annotation tab leaves draft state and the button turns into Update.
    wait.until(ready.presence_of_element_located((By.XPATH, "//button[normalize-space(.)='Update']")))
    print(json.dumps(order))
finally:
    driver.quit()
